/**
 * `kubegate elevations` and `kubegate revocations` read their command lines with one parser: `list`, or a
 * verb with one ID, refused before any request when malformed. In-process (the commands' own tests run
 * them as a user would).
 */
import t from 'tap';
import { parseElevationsArgs } from '../../src/cli/elevations.js';
import { parseRevocationsArgs } from '../../src/cli/revocations.js';

t.test('revocations: list, get ID, delete ID, with the client flags', async (t) => {
  t.same(parseRevocationsArgs(['list', '-o', 'json', '--context', 'prod']), { action: { verb: 'list' }, selection: { kubeconfig: undefined, context: 'prod' }, output: 'json' });
  t.same(parseRevocationsArgs(['delete', 'rev-1a2b', '--kubeconfig', 'k']).action, { verb: 'delete', id: 'rev-1a2b' });
  t.same(parseRevocationsArgs(['get', 'rev-1a2b']).action, { verb: 'get', id: 'rev-1a2b' });
});

t.test('each malformed command line says what is wrong, naming the command', async (t) => {
  const cases: [(argv: string[]) => unknown, string[], RegExp][] = [
    [parseRevocationsArgs, [], /^a subcommand is required: list, get, delete$/],
    [parseRevocationsArgs, ['approve', 'rev-1'], /^unknown subcommand "approve": use list, get, delete$/],
    [parseRevocationsArgs, ['list', 'x'], /^list takes no arguments, got "x"$/],
    [parseRevocationsArgs, ['delete'], /^delete takes one revocation ID$/],
    [parseRevocationsArgs, ['delete', 'a', 'b'], /^delete takes one revocation ID, got 2$/],
    [parseRevocationsArgs, ['get', '../x'], /^"\.\.\/x" is not a revocation ID \(IDs look like rev-…; see kubegate revocations list\)$/],
    [parseRevocationsArgs, ['list', '-o', 'yaml'], /^-o\/--output must be json, got "yaml"$/],
    [parseElevationsArgs, ['approve', 'Elev_1'], /^"Elev_1" is not an elevation ID \(IDs look like elev-…; see kubegate elevations list\)$/],
    [parseElevationsArgs, ['delete', 'elev-1'], /^unknown subcommand "delete": use list, get, approve, revoke$/],
  ];
  for (const [parse, argv, message] of cases) t.throws(() => parse(argv), { name: 'UsageError', message }, argv.join(' ') || '(nothing)');
});
