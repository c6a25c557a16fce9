/**
 * The CEL library is loaded when the first expression is compiled (src/cel/cel.ts), so a kubegate whose
 * authentication has no expressions never loads it; compiling and evaluating still work once it is.
 */
import { createRequire } from 'node:module';
import t from 'tap';
import { createConfiguredAuthenticator } from '../../src/authn/configured.js';
import { compileCel } from '../../src/cel/cel.js';

const require = createRequire(import.meta.url);
const celLoaded = () => Object.keys(require.cache).some((file) => file.includes('/@marcbachmann/cel-js/'));

t.test('the CEL library loads with the first expression, not with the authenticator', async (t) => {
  t.equal(typeof createConfiguredAuthenticator, 'function', 'the authenticator module is loaded');
  t.notOk(celLoaded(), 'no expression compiled yet: the library is not loaded');
  const r = compileCel('claims.email.endsWith("@example.com")', 'claims');
  t.ok(celLoaded(), 'the first compile loaded it');
  t.ok(r.ok && r.expression.evaluate({ claims: { email: 'a@example.com' } }) === true, 'and the expression evaluates');
  t.same(compileCel('claims.(', 'claims'), { ok: false, error: 'compilation failed: Expected IDENTIFIER, got LPAREN' }, 'a bad expression is still a result');
});
