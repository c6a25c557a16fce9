/**
 * lifecycle.test.ts again, against the HTTP/1.1-only listener (`server.http2: false`): the default listener
 * serves HTTP/1.1 through Node's HTTP/2 server, this one through node:https; both must keep every promise.
 */
process.env.KUBEGATE_TEST_LISTENER = 'h1';
await import('../lifecycle.test.js');
