// Reads {"name": "cypher", ...} on stdin; prints {"name": ["error", ...]} for every query
// that Neo4j's Cypher 5 parser/linter rejects. "Parameter $x is not defined" is not an error
// here: parameters are supplied at run time.
import { lintCypherQuery } from '@neo4j-cypher/language-support';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const queries = JSON.parse(input);
const out = {};
for (const [name, query] of Object.entries(queries)) {
  const { diagnostics } = lintCypherQuery(`CYPHER 5 ${query}`, {});
  const errors = diagnostics
    .filter((d) => d.severity === 1 && !/^Parameter \$\w+ is not defined/.test(d.message))
    .map((d) => d.message);
  out[name] = errors;
}
process.stdout.write(JSON.stringify(out));
