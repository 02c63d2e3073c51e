// npm run demo end to end (scripts/demo.ts): a whole run, the HA pair's takeover included, and the way out on Ctrl-C;
// both leave nothing behind. One demo runs at a time (its lock): a run that finds another one running waits its turn.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sleep } from '../support/daemon.js';

const DEMO = fileURLToPath(new URL('../../scripts/demo.js', import.meta.url));
/** The demo's own runs take about 25 s, more on a loaded machine; another one's may come first. */
const TURN_MS = 240_000;
const LOCK = '/run/xlb/demo.pid';
const LEFTOVERS = ['/run/xlb/demo.sock', '/run/xlb/demo-b.sock', '/run/xlb/demo-ha.key', LOCK, '/tmp/xlb-demo-redis'];

interface Run {
  pid: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the demo once; `interrupt` says, from its output so far, when to send SIGINT. */
function runOnce(interrupt?: (stdout: string) => boolean): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DEMO], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (interrupt && !sent && interrupt(stdout)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code, signal) => resolve({ pid: child.pid!, code: code ?? (signal ? 128 : 127), stdout, stderr }));
  });
}

/** Runs the demo, waiting while another demo holds the lock. */
async function runDemo(interrupt?: (stdout: string) => boolean): Promise<Run> {
  const deadline = Date.now() + TURN_MS;
  for (;;) {
    const r = await runOnce(interrupt);
    if (!/another demo runs/.test(r.stderr) || Date.now() > deadline) return r;
    await sleep(1000);
  }
}

/** What the demo run `pid` left under the demo's names. */
function leftovers(pid: number): string[] {
  const namespaces = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith('xlbdemo-')) : [];
  const found = [...namespaces, ...LEFTOVERS.filter((p) => existsSync(p))];
  let holder: number | undefined;
  try {
    holder = Number(readFileSync(LOCK, 'utf8').trim());
  } catch {
    return found;
  }
  // Another demo (another checkout's tests) took the lock since: what is there now is its own.
  return holder !== pid && existsSync(`/proc/${holder}`) ? [] : found;
}

/** The demo's redis-server, by the pid it printed. */
function redisPid(stdout: string): number | undefined {
  const pid = /Redis answers at \S+ \(pid (\d+)\)/.exec(stdout)?.[1];
  return pid === undefined ? undefined : Number(pid);
}

/** True once `pid` has exited (gone, or a zombie until init reaps it); false if it still runs after 10 s. */
async function ended(pid: number): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    let state: string | undefined;
    try {
      // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses, STATE follows the last ")".
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[0];
    } catch {
      return true;
    }
    if (state === 'Z' || state === 'X') return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

test.serial('the demo runs the pair, kills the active node, shows the standby take over and the gap, and cleans up', async (t) => {
  t.timeout(TURN_MS + 120_000);
  const r = await runDemo();
  t.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
  t.regex(r.stdout, /lb-a active in [\d.]+ s, epoch 1/);
  t.regex(r.stdout, /lb-b standby in [\d.]+ s, epoch 1: tables match the active's/);
  t.regex(r.stdout, /the VIP is at 02:1b:00:00:00:01: lb-a/, 'the client first finds the VIP at lb-a');
  t.regex(r.stdout, /\$ lbctl-b ha status\n\s+node\s+lb-b \(pair demo\)\n\s+role\s+standby/);
  t.regex(r.stdout, /lb-a\$ kill -9 \d+; ip link set front down; ip link set back down/);
  t.regex(r.stdout, /lb-b active \d+ ms after the kill \(as lb-b saw it\), epoch 2/);
  t.regex(r.stdout, /role\s+active at epoch 2/);
  t.regex(r.stdout, /the VIP is at 02:1b:00:00:01:01: lb-b/, 'then at lb-b');
  t.regex(r.stdout, /the same connection, the same backend/);
  const gap = /the client's longest wait for an echo reply: (\d+) ms \((\d+) of (\d+) echo requests lost\)/.exec(r.stdout);
  t.truthy(gap, 'the gap is printed');
  t.log(`gap ${gap?.[1]} ms, ${gap?.[2]} of ${gap?.[3]} lost`);
  t.regex(r.stdout, /demo done in [\d.]+ s; cleaned up/);
  t.deepEqual(leftovers(r.pid), []);
  const pid = redisPid(r.stdout);
  t.truthy(pid);
  t.true(await ended(pid!), 'its redis-server is gone');
});

test.serial('Ctrl-C with the pair up: the demo stops and leaves nothing behind', async (t) => {
  t.timeout(TURN_MS + 60_000);
  const r = await runDemo((out) => /lb-b standby in/.test(out));
  t.is(r.code, 130, `${r.stdout}\n${r.stderr}`);
  t.regex(r.stdout, /SIGINT: cleaning up\ncleaned up: /);
  t.deepEqual(leftovers(r.pid), []);
  const pid = redisPid(r.stdout);
  t.truthy(pid);
  t.true(await ended(pid!), 'its redis-server is gone');
});
