/**
 * request-path.test.ts again, with HTTP/1.1 on both sides: the HTTP/1.1-only listener (`server.http2: false`;
 * the default listener serves HTTP/1.1 through Node's HTTP/2 server, this one through node:https) and an
 * API server that offers only HTTP/1.1 (so `upstream.protocol: auto` picks the HTTP/1.1 client). Both
 * ways must keep every promise.
 */
process.env.KUBEGATE_TEST_LISTENER = 'h1';
process.env.KUBEGATE_TEST_UPSTREAM = 'http1';
await import('../request-path.test.js');
