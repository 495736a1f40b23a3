// Validates several AsyncAPI documents in one Node.js process with the AsyncAPI CLI's own validation code: the
// ValidationService and SpecificationFile.load that `asyncapi validate` runs, with the same severity rule
// (`--fail-severity`). Each `asyncapi validate` start loads the CLI's whole command framework again, about 2.7 s
// of CPU per document; one process for the seven documents spends that once (tests/integration/
// test_asyncapi_documents.py, which also runs the CLI binary itself on a broken document).
//
// Usage: node validate_many.js <npm prefix> <fail severity> <document>...; prints one JSON line per document:
// {"path", "status" ("valid" or "invalid", or null when the document could not be read or parsed), "error",
// "diagnostics" (the CLI's text format)}.
"use strict";
const path = require("path");

async function main() {
  const [prefix, failSeverity, ...documents] = process.argv.slice(2);
  const cli = path.join(path.resolve(prefix), "node_modules", "@asyncapi", "cli", "lib", "domains");
  const { ValidationService } = require(path.join(cli, "services", "validation.service"));
  const { load } = require(path.join(cli, "models", "SpecificationFile"));
  const service = new ValidationService();
  for (const document of documents) {
    const line = { path: document, status: null, error: null, diagnostics: "" };
    try {
      const result = await service.validateDocument(await load(document), { "fail-severity": failSeverity });
      if (result.success) {
        line.status = result.data.status;
        line.diagnostics = service.formatDiagnosticsOutput(result.data.diagnostics || [], "text", failSeverity);
      } else {
        line.error = String(result.error);
      }
    } catch (error) {
      line.error = String(error && error.stack ? error.stack : error);
    }
    process.stdout.write(JSON.stringify(line) + "\n");
  }
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + "\n");
  process.exit(2);
});
