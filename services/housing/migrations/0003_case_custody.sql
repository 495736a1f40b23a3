-- Housing applies custody (harbour.custody, table case_custody from harbour's 0011): which centre holds a case,
-- period by period. Cases housing followed before: their admission period is the centre case_registry names now
-- (an earlier transfer overwrote the admitting centre there, so the older period cannot be told any more; the
-- centre that holds the case keeps it, which is what case_registry already said).
INSERT INTO case_custody (case_id, seq, centre, since_on)
SELECT case_id, 0, centre, opened_on FROM case_registry
ON CONFLICT DO NOTHING;
