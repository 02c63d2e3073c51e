// The limits a pool and a config file are checked against: the capacities equal what the built data plane holds,
// and a config over the size limit is refused with its size and the limit, unread when it is a file.
import test from 'ava';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BpfObject } from '../../lb/bpf/object.js';
import { MAPS } from '../../lb/bpf/layout.js';
import { OBJECT_PATH } from '../../lb/dataplane/dataplane.js';
import { CAPACITY, MAX_CONFIG_BYTES } from '../../config/limits.js';
import { ConfigError, parseConfig, readConfigText } from '../../config/load.js';

test('CAPACITY is what the built object\'s maps hold (bpf/xlb_layout.h XLB_MAX_*)', (t) => {
  const object = BpfObject.open(OBJECT_PATH);
  try {
    t.deepEqual({
      services: object.map(MAPS.services).maxEntries,
      backends: object.map(MAPS.backends).maxEntries,
      denyPrefixes: object.map(MAPS.deny).maxEntries,
      allowPrefixes: object.map(MAPS.allow).maxEntries,
    }, { ...CAPACITY });
  } finally {
    object.close();
  }
});

const TOO_LARGE = `the config is ${MAX_CONFIG_BYTES + 1} bytes, over the limit of ${MAX_CONFIG_BYTES} bytes (16 MiB)`;

test('config text over 16 MiB is refused with its size and the limit; 16 MiB is not too much', (t) => {
  t.deepEqual(parseConfig(`#${' '.repeat(MAX_CONFIG_BYTES)}`).problems, [{ path: '', message: TOO_LARGE }]);
  const head = 'node: { interfaces: [eth0] }\n#';
  const exactly = `${head}${'x'.repeat(MAX_CONFIG_BYTES - head.length - 1)}\n`;
  t.is(Buffer.byteLength(exactly), MAX_CONFIG_BYTES);
  t.deepEqual(parseConfig(exactly).problems, []);
});

test('a config file over 16 MiB is refused before it is read', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'xlb-limits-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'big.yaml');
  writeFileSync(file, '');
  truncateSync(file, MAX_CONFIG_BYTES + 1); // sparse: reading it would take 16 MiB of zeros
  const err = t.throws(() => readConfigText(file), { instanceOf: ConfigError });
  t.is(err?.code, 'XLB_CONFIG_INVALID');
  t.deepEqual(err?.problems, [{ path: '', message: TOO_LARGE }]);
  t.is(err?.message, `${file}: 1 problem\n  ${TOO_LARGE}`);
});
