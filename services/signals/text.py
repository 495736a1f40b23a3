# ruff: noqa: E501 -- a table of sentences in four languages: one line per sentence reads and diffs best
"""The words of the public pages in the four languages, and which language a request gets."""

from __future__ import annotations

from schemas.catalogue import LANGUAGES, Language

NAMES: dict[Language, str] = {"nl": "Nederlands", "fr": "Français", "de": "Deutsch", "en": "English"}

T: dict[str, dict[Language, str]] = {
    "title": {"nl": "Signalen van mensenhandel", "fr": "Signaux de traite des êtres humains",
              "de": "Anzeichen von Menschenhandel", "en": "Signs of human trafficking"},
    "intro": {"nl": "Vink aan wat u opmerkte. Er wordt niets bewaard.",
              "fr": "Cochez ce que vous avez remarqué. Rien n'est enregistré.",
              "de": "Kreuzen Sie an, was Ihnen aufgefallen ist. Nichts wird gespeichert.",
              "en": "Tick what you noticed. Nothing is stored."},
    "check": {"nl": "Wat betekent dit?", "fr": "Qu'est-ce que cela signifie ?", "de": "Was bedeutet das?",
              "en": "What does this mean?"},
    "explain": {"nl": "Geen enkel signaal op zich bewijst mensenhandel. Twee of meer signalen samen zijn een reden om te handelen.",
                "fr": "Aucun signal seul ne prouve la traite. Deux signaux ou plus ensemble sont une raison d'agir.",
                "de": "Kein einzelnes Anzeichen beweist Menschenhandel. Zwei oder mehr zusammen sind ein Grund zu handeln.",
                "en": "No single signal is conclusive. Two or more signals together are a reason to act."},
    "ticked": {"nl": "Aangevinkte signalen: {n}", "fr": "Signaux cochés : {n}", "de": "Angekreuzte Anzeichen: {n}",
               "en": "Signals ticked: {n}"},
    "act": {"nl": "U zag twee of meer signalen: neem contact op.", "fr": "Vous avez vu deux signaux ou plus : prenez contact.",
            "de": "Sie haben zwei oder mehr Anzeichen gesehen: Nehmen Sie Kontakt auf.",
            "en": "You saw two or more signals: please get in touch."},
    "watch": {"nl": "Eén signaal is niet genoeg om te besluiten. Blijf alert.",
              "fr": "Un seul signal ne suffit pas pour conclure. Restez attentif.",
              "de": "Ein Anzeichen allein reicht nicht aus. Bleiben Sie aufmerksam.",
              "en": "One signal alone is not enough to conclude. Stay alert."},
    "contact": {"nl": "Wie contacteren", "fr": "Qui contacter", "de": "Wen kontaktieren", "en": "Who to contact"},
    "source": {"nl": "bron", "fr": "source", "de": "Quelle", "en": "source"},
    "tip_link": {"nl": "Anoniem een tip geven", "fr": "Donner un signalement anonyme", "de": "Anonym einen Hinweis geben",
                 "en": "Give an anonymous tip"},
    "pro_link": {"nl": "Voor professionals", "fr": "Pour les professionnels", "de": "Für Fachleute",
                 "en": "For professionals"},
    "home": {"nl": "Signalen", "fr": "Signaux", "de": "Anzeichen", "en": "Signals"},
    "language": {"nl": "Taal", "fr": "Langue", "de": "Sprache", "en": "Language"},
    "tip_title": {"nl": "Anonieme tip", "fr": "Signalement anonyme", "de": "Anonymer Hinweis", "en": "Anonymous tip"},
    "tip_intro": {"nl": "Wij bewaren geen IP-adres, browser of cookie. Uw naam is niet nodig.",
                  "fr": "Nous n'enregistrons ni adresse IP, ni navigateur, ni cookie. Votre nom n'est pas nécessaire.",
                  "de": "Wir speichern weder IP-Adresse noch Browser noch Cookies. Ihr Name ist nicht nötig.",
                  "en": "We keep no IP address, browser or cookie. Your name is not needed."},
    "what": {"nl": "Wat zag u?", "fr": "Qu'avez-vous vu ?", "de": "Was haben Sie gesehen?", "en": "What did you see?"},
    "postcode": {"nl": "Postcode", "fr": "Code postal", "de": "Postleitzahl", "en": "Postcode"},
    "municipality": {"nl": "Gemeente (optioneel)", "fr": "Commune (facultatif)", "de": "Gemeinde (optional)",
                     "en": "Municipality (optional)"},
    "when": {"nl": "Wanneer (optioneel)", "fr": "Quand (facultatif)", "de": "Wann (optional)", "en": "When (optional)"},
    "kinds": {"nl": "Welke uitbuiting vermoedt u? (optioneel)", "fr": "Quelle exploitation soupçonnez-vous ? (facultatif)",
              "de": "Welche Ausbeutung vermuten Sie? (optional)", "en": "Which exploitation do you suspect? (optional)"},
    "callback": {"nl": "Hoe kunnen we u terugbellen? (optioneel, wordt versleuteld)",
                 "fr": "Comment vous rappeler ? (facultatif, chiffré)",
                 "de": "Wie können wir Sie zurückrufen? (optional, verschlüsselt)",
                 "en": "How can we call you back? (optional, encrypted)"},
    "honeypot": {"nl": "Laat dit veld leeg", "fr": "Laissez ce champ vide", "de": "Dieses Feld leer lassen",
                 "en": "Leave this field empty"},
    "send": {"nl": "Versturen", "fr": "Envoyer", "de": "Senden", "en": "Send"},
    "errors": {"nl": "Controleer het formulier:", "fr": "Vérifiez le formulaire :", "de": "Bitte prüfen Sie das Formular:",
               "en": "Please check the form:"},
    "thanks_title": {"nl": "Bedankt", "fr": "Merci", "de": "Danke", "en": "Thank you"},
    "thanks": {"nl": "Uw tip is doorgegeven aan het erkende centrum van de regio.",
               "fr": "Votre signalement a été transmis au centre reconnu de la région.",
               "de": "Ihr Hinweis wurde an das anerkannte Zentrum der Region weitergeleitet.",
               "en": "Your tip was passed to the recognised centre of the region."},
    "pro_title": {"nl": "Voor eerstelijnsprofessionals", "fr": "Pour les professionnels de première ligne",
                  "de": "Für Fachleute an vorderster Front", "en": "For front-line professionals"},
    "pro_route": {"nl": "Verwijs door naar het erkende centrum van de regio wanneer twee of meer signalen samen voorkomen. Het centrum houdt een intakegesprek; enkel de referentiemagistraat beslist of iemand slachtoffer is.",
                  "fr": "Orientez vers le centre reconnu de la région lorsque deux signaux ou plus apparaissent ensemble. Le centre mène un entretien d'accueil ; seul le magistrat de référence décide si la personne est victime.",
                  "de": "Verweisen Sie an das anerkannte Zentrum der Region, wenn zwei oder mehr Anzeichen zusammen auftreten. Das Zentrum führt ein Aufnahmegespräch; nur der Referenzmagistrat entscheidet, ob jemand Opfer ist.",
                  "en": "Refer to the region's recognised centre when two or more signals appear together. The centre holds an intake interview; only the reference magistrate decides whether someone is a victim."},
    "checklist": {"nl": "Screeningslijst", "fr": "Liste de dépistage", "de": "Prüfliste", "en": "Screening checklist"},
    # Errors of the tip form, each naming its field.
    "e_description": {"nl": "Beschrijf kort wat u zag (1 tot 2000 tekens).", "fr": "Décrivez brièvement ce que vous avez vu (1 à 2000 caractères).",
                      "de": "Beschreiben Sie kurz, was Sie gesehen haben (1 bis 2000 Zeichen).",
                      "en": "Describe briefly what you saw (1 to 2000 characters)."},
    "e_postcode": {"nl": "Geef een Belgische postcode van vier cijfers.", "fr": "Indiquez un code postal belge à quatre chiffres.",
                   "de": "Geben Sie eine belgische Postleitzahl mit vier Ziffern an.", "en": "Give a four-digit Belgian postcode."},
    "e_municipality": {"nl": "De gemeente is te lang (maximaal 80 tekens).", "fr": "La commune est trop longue (80 caractères au plus).",
                       "de": "Die Gemeinde ist zu lang (höchstens 80 Zeichen).", "en": "The municipality is too long (80 characters at most)."},
    "e_seen_on": {"nl": "Geef een datum die niet in de toekomst ligt.", "fr": "Indiquez une date qui n'est pas dans le futur.",
                  "de": "Geben Sie ein Datum an, das nicht in der Zukunft liegt.", "en": "Give a date that is not in the future."},
    "e_callback": {"nl": "De contactgegevens zijn te lang (maximaal 200 tekens).", "fr": "Le contact est trop long (200 caractères au plus).",
                   "de": "Die Kontaktangabe ist zu lang (höchstens 200 Zeichen).", "en": "The contact is too long (200 characters at most)."},
    "e_exploitation_types": {"nl": "Kies enkel uit de lijst.", "fr": "Choisissez uniquement dans la liste.",
                             "de": "Wählen Sie nur aus der Liste.", "en": "Choose from the list only."},
    "e_signal_ids": {"nl": "Onbekend signaal.", "fr": "Signal inconnu.", "de": "Unbekanntes Anzeichen.", "en": "Unknown signal."},
    "e_too_large": {"nl": "Het formulier is te groot.", "fr": "Le formulaire est trop volumineux.", "de": "Das Formular ist zu groß.",
                    "en": "The form is too large."},
    "e_rate": {"nl": "U stuurde al veel tips. Probeer later opnieuw of bel het centrum.",
               "fr": "Vous avez déjà envoyé beaucoup de signalements. Réessayez plus tard ou appelez le centre.",
               "de": "Sie haben schon viele Hinweise gesendet. Versuchen Sie es später oder rufen Sie das Zentrum an.",
               "en": "You sent many tips already. Try again later or call the centre."},
}  # fmt: skip


def t(key: str, language: Language, **values: object) -> str:
    return T[key][language].format(**values)


def choose(asked: str | None, accept_language: str | None) -> Language:
    """``?lang=`` when it names one of the four, else the best of ``Accept-Language`` (q-values), else English."""
    if asked in LANGUAGES:
        return asked  # type: ignore[return-value]
    ranked: list[tuple[float, int, Language]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, index, primary))  # type: ignore[arg-type]
    return min(ranked)[2] if ranked else "en"
