// The deny list (every VIP) and per-service allow-lists, enforced in XDP with LPM tries and editable live.
import test from 'ava';
import { clientFrame, natted, BACKENDS } from '../../scripts/lab/cases.js';
import { TCP_FLAGS } from '../../scripts/lab/frames.js';
import { Harness, pool, service } from '../../scripts/lab/harness.js';
import { isolateNetwork } from '../../scripts/lab/isolate.js';
import type { Pool } from '../../config/pool.js';

isolateNetwork();

const web = (allow: string[] = []) => service({ name: 'web', protocol: 'tcp', port: 80, allow }, [BACKENDS[0]]);
const ping = () => service({ name: 'ping', protocol: 'icmp' }, [BACKENDS[1]]);
const withDeny = (p: Pool, deny: string[]): Pool => ({ ...p, deny });

const from = (src: string) => clientFrame({ proto: 'tcp', src, dport: 80, tcpFlags: TCP_FLAGS.SYN });
const echoFrom = (src: string) => clientFrame({ proto: 'icmp', src });

test('a denied source is dropped for every VIP; its neighbours and other traffic are not', (t) => {
  const h = new Harness(withDeny(pool(web(), ping()), ['198.18.0.0/30', '198.18.5.7/32']));
  t.teardown(() => h.close());
  for (const src of ['198.18.0.1', '198.18.0.3', '198.18.5.7']) {
    t.is(h.run(from(src)).verdict, 'DROP', src);
    t.is(h.run(echoFrom(src)).verdict, 'DROP', `${src} ping`);
  }
  const ok = from('198.18.0.4');
  t.is(h.run(ok).out.toString('hex'), natted(ok, BACKENDS[0], undefined).toString('hex'));
  t.is(h.run(echoFrom('198.18.5.8')).verdict, 'TX');
  const notVip = clientFrame({ proto: 'tcp', src: '198.18.0.1', dst: '198.18.0.99', dport: 80 });
  t.true(h.run(notVip).out.equals(notVip), 'deny guards VIPs only');
  t.is(h.dp.outcomes().drop_denied.packets, 6n);
});

test('an allow-list admits its prefixes to its own service only', (t) => {
  const h = new Harness(pool(web(['198.18.0.0/24', '198.18.9.9/32']), ping()));
  t.teardown(() => h.close());
  t.is(h.run(from('198.18.0.200')).verdict, 'TX');
  t.is(h.run(from('198.18.9.9')).verdict, 'TX');
  t.is(h.run(from('198.18.1.5')).verdict, 'DROP');
  t.is(h.run(from('198.18.9.8')).verdict, 'DROP');
  t.is(h.run(echoFrom('198.18.1.5')).verdict, 'TX', 'the ping service has no allow-list');
  t.is(h.dp.outcomes().drop_not_allowed.packets, 2n);
});

test('deny and allow lists change live, both ways, and empty lists cost no lookup', (t) => {
  const h = new Harness(pool(web()));
  t.teardown(() => h.close());
  const src = '198.18.3.3';
  t.is(h.run(from(src)).verdict, 'TX');
  h.apply(withDeny(pool(web()), ['198.18.3.0/24']));
  t.is(h.run(from(src)).verdict, 'DROP');
  h.apply(pool(web()));
  t.is(h.run(from(src)).verdict, 'TX');
  h.apply(pool(web(['198.18.4.0/24'])));
  t.is(h.run(from(src)).verdict, 'DROP');
  h.apply(pool(web(['198.18.4.0/24', '198.18.3.0/24'])));
  t.is(h.run(from(src)).verdict, 'TX');
  h.apply(pool(web()));
  t.is(h.run(from('198.18.200.1')).verdict, 'TX');
  t.deepEqual(h.dp.map('deny').keys(), []);
  t.deepEqual(h.dp.map('allow').keys(), []);
});

// An established flow's packets skip the service lookup and read the service's flags from their backend entry: the
// lists must hold for them as for new flows, also while the syncer writes a change.
const established = (h: Harness, src: string, sport: number) => {
  h.run(clientFrame({ proto: 'tcp', src, sport, dport: 80, tcpFlags: TCP_FLAGS.SYN }));
  return () => h.run(clientFrame({ proto: 'tcp', src, sport, dport: 80, tcpFlags: TCP_FLAGS.ACK }));
};

test('lists hold for established flows too, as they change', (t) => {
  const h = new Harness(pool(web()));
  t.teardown(() => h.close());
  const next = established(h, '198.18.3.3', 30000);
  const other = established(h, '198.18.6.6', 30001);
  t.is(next().verdict, 'TX');
  t.is(other().verdict, 'TX');
  t.truthy(h.dp.map('flows').keys().length, 'the flows are in the flow table');
  h.apply(withDeny(pool(web()), ['198.18.3.0/24']));
  t.is(next().verdict, 'DROP');
  t.is(other().verdict, 'TX');
  h.apply(pool(web(['198.18.6.0/24'])));
  t.is(next().verdict, 'DROP', 'outside the allow-list');
  t.is(other().verdict, 'TX');
  h.apply(pool(web()));
  t.is(next().verdict, 'TX');
  const outcomes = h.dp.outcomes();
  t.is(outcomes.drop_denied.packets, 1n);
  t.is(outcomes.drop_not_allowed.packets, 1n);
});

test('an allow-list written under an established flow never drops it on the way', (t) => {
  const h = new Harness(pool(web()), { batchEntries: 1 });
  t.teardown(() => h.close());
  const next = established(h, '198.18.3.3', 30000);
  next();
  const seen = new Set<string>();
  h.applyWatched(pool(web(['198.18.3.0/24'])), () => seen.add(next().verdict));
  t.deepEqual([...seen], ['TX']);
  const gone = new Set<string>();
  h.applyWatched(pool(web(['198.18.4.0/24'])), () => gone.add(next().verdict));
  t.is([...gone].at(-1), 'DROP');
  t.is(next().verdict, 'DROP');
});
