// graphql-js: introspect over HTTP, build the client schema, validate the clients' documents.
import { buildClientSchema, getIntrospectionQuery, parse, printSchema, validate, validateSchema } from "graphql";
import { CAST, DECISION, ME, RESULTS, STATUS, fail, input, output } from "./common.mjs";

const config = await input();
try {
  const response = await fetch(config.http, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: getIntrospectionQuery({ descriptions: true }) }),
  });
  const body = await response.json();
  const schema = buildClientSchema(body.data);
  const documents = { DECISION, CAST, RESULTS, STATUS, ME };
  output({
    schemaErrors: validateSchema(schema).map((e) => e.message),
    documentErrors: Object.fromEntries(
      Object.entries(documents).map(([name, doc]) => [name, validate(schema, parse(doc)).map((e) => e.message)]),
    ),
    sdl: printSchema(schema),
  });
} catch (error) {
  fail(error);
}
