/**
 * The layers and the one rule between them: imports point down, never up or sideways.
 *
 *   base/          errors, logging, clock, child processes, backoff, SQLite, pixel buffers
 *   protocol/      what the kiosk and the carrier agree on: topics, result claims, plans, enrolment messages
 *   models/  device/  provisioning/     the face engine; camera, GPIO and media; the kiosk's identity
 *   agent/         the kiosk agent: session, daemon, transport, outbox, screen, assistance, CLI
 *   carrier/       the carrier's side (verifier, enrolment, CA, broker policy, operator page): base + protocol only
 *   sim/           the fleet simulator: runs kiosks and carriers together, may import both
 *
 * test/, bench/ and scripts/ may import anything. Checked by `npm test` (`npm run depcheck`).
 */
const layer = (name, allowed) => ({
  name: `${name}-imports-down`,
  comment: `${name}/ may import only ${allowed.join(', ')}`,
  severity: 'error',
  from: { path: `^${name}/` },
  to: { path: '^(base|protocol|models|device|provisioning|agent|carrier|sim)/', pathNot: `^(${allowed.join('|')})/` },
});

module.exports = {
  forbidden: [
    layer('base', ['base']),
    layer('protocol', ['base', 'protocol']),
    layer('models', ['base', 'models']),
    layer('device', ['base', 'device']),
    layer('provisioning', ['base', 'protocol', 'provisioning']),
    layer('agent', ['base', 'protocol', 'models', 'device', 'provisioning', 'agent']),
    layer('carrier', ['base', 'protocol', 'carrier']),
    {
      name: 'no-circular',
      comment: 'modules that import each other cannot be understood or tested apart',
      severity: 'error',
      from: { path: '^(base|protocol|models|device|provisioning|agent|carrier|sim)/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|models/files)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js', '.mjs', '.json'] },
  },
};
