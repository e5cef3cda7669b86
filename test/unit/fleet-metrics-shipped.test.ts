/**
 * What carrier/metrics ships besides the exporter: the alert rules (alerts.yml) pass `promtool check
 * rules` and `promtool test rules alerts.test.yml` (tamper and out of service firing, a healthy fleet
 * quiet, every other alert firing on its bad case); the Grafana dashboard parses, takes its Prometheus
 * data source from a variable, and shows every exported metric. Rules and panels name only series the
 * exporter serves. The promtool part skips without Debian's prometheus package.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { FleetMetrics } from '../../carrier/metrics/fleet-metrics.js';

const PROMTOOL = '/usr/bin/promtool';
const dir = fileURLToPath(new URL('../../carrier/metrics/', import.meta.url));
const promtool = (...args: string[]) => spawnSync(PROMTOOL, args, { cwd: dir, encoding: 'utf8', timeout: 30_000 });

/** The exporter's metric names, and the series names it serves (a histogram serves _bucket, _sum and _count). */
async function exported(): Promise<{ metrics: string[]; series: Set<string> }> {
  const json = await new FleetMetrics({ logger: pino({ level: 'silent' }) }).registry.getMetricsAsJSON();
  const series = new Set(json.flatMap((m) => (String(m.type) === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => m.name + s) : [m.name])));
  return { metrics: json.map((m) => m.name), series };
}

/** Grafana's reference to the dashboard variable `datasource`. */
const DS_VAR = '$' + '{datasource}';

/** Metric names in a PromQL expression: our prefix only (functions, labels and keywords never carry it). */
const metricNames = (expr: string): string[] => expr.match(/\bkiosk_fleet_[a-z_]+\b/g) ?? [];

t.test('every metric the rules name is exported, and every alert has a promtool test', async (t) => {
  const rules = readFileSync(`${dir}alerts.yml`, 'utf8');
  const { series } = await exported();
  const names = new Set(metricNames(rules));
  t.ok(names.size >= 8, `${names.size} metrics used`);
  for (const n of names) t.ok(series.has(n), `${n} is exported`);
  const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
  t.ok(alerts.length >= 7, `${alerts.length} alerts`);
  const tested = readFileSync(`${dir}alerts.test.yml`, 'utf8');
  for (const a of alerts) t.match(tested, new RegExp(`alertname: ${a}\\b`), `${a} has a promtool test`);
});

t.test('promtool check rules and test rules', { skip: existsSync(PROMTOOL) ? false : `${PROMTOOL} absent (apt-get install prometheus)` }, async (t) => {
  const check = promtool('check', 'rules', 'alerts.yml');
  t.equal(check.status, 0, `promtool check rules: ${check.stdout}${check.stderr}`);
  t.match(check.stdout, /SUCCESS: \d+ rules found/);
  const test = promtool('test', 'rules', 'alerts.test.yml');
  t.equal(test.status, 0, `promtool test rules: ${test.stdout}${test.stderr}`);
  t.match(test.stdout, /SUCCESS/);
});

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string; refId: string; datasource?: { uid: string } }[];
}

t.test('the dashboard parses, uses a Prometheus data source variable, and queries only exported metrics, all of them', async (t) => {
  const d = JSON.parse(readFileSync(`${dir}grafana-dashboard.json`, 'utf8')) as {
    schemaVersion: number;
    uid: string;
    templating: { list: { name: string; type: string; query: string }[] };
    panels: Panel[];
  };
  t.ok(d.schemaVersion >= 36, `schemaVersion ${d.schemaVersion} (Grafana 9 and later)`);
  t.match(d.uid, /^[a-z0-9-]{1,40}$/);
  const ds = d.templating.list.find((v) => v.type === 'datasource');
  t.same(ds && { name: ds.name, query: ds.query }, { name: 'datasource', query: 'prometheus' }, 'a Prometheus data source variable');
  const { metrics, series } = await exported();
  const used = new Set<string>();
  const queries = d.panels.filter((p) => p.type !== 'row');
  t.ok(queries.length >= 15, `${queries.length} panels`);
  t.equal(new Set(d.panels.map((p) => p.id)).size, d.panels.length, 'panel ids are unique');
  for (const p of queries) {
    t.equal(p.datasource?.uid, DS_VAR, `${p.title}: the variable's data source`);
    t.ok(p.targets && p.targets.length > 0, `${p.title}: has queries`);
    t.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title}: fits the 24-column grid`);
    for (const q of p.targets ?? []) {
      t.equal(q.datasource?.uid ?? DS_VAR, DS_VAR, `${p.title} ${q.refId}: the variable's data source`);
      const names = metricNames(q.expr);
      t.ok(names.length > 0, `${p.title} ${q.refId}: names a metric`);
      for (const n of names) {
        t.ok(series.has(n), `${p.title} ${q.refId}: ${n} is exported`);
        used.add(series.has(n) && !metrics.includes(n) ? n.replace(/_(bucket|sum|count)$/, '') : n);
      }
    }
  }
  t.same(
    metrics.filter((m) => !used.has(m)),
    [],
    'every exported metric is on a panel',
  );
});
