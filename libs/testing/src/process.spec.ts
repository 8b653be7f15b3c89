import { describe, expect, it } from 'vitest';
import { spawnProcess } from './process.js';

const node = process.execPath;

describe('spawnProcess', () => {
  it('waits for a line, captures stdout and stderr, and reports the exit code', async () => {
    const proc = spawnProcess({
      name: 'printer',
      command: node,
      args: ['-e', 'console.log("hello"); console.error("warn " + process.env.GREETING); setTimeout(() => { console.log("ready on 1234"); process.exit(3); }, 50);'],
      env: { GREETING: 'there' },
    });
    const line = await proc.waitForLine(/ready on (\d+)/);
    expect(line).toBe('ready on 1234');
    // A line printed before the wait started still matches.
    await expect(proc.waitForLine((l, stream) => stream === 'stderr' && l.includes('there'))).resolves.toBe('warn there');
    expect(await proc.exited).toEqual({ code: 3, signal: null });
    expect(proc.logs()).toContain('[printer stdout] hello');
    expect(proc.logs()).toContain('[printer stderr] warn there');
  });

  it('kill delivers the signal and exited reports it', async () => {
    const proc = spawnProcess({ name: 'sleeper', command: node, args: ['-e', 'console.log("up"); setInterval(() => {}, 1000)'] });
    await proc.waitForLine(/up/);
    expect(proc.kill('SIGINT')).toBe(true);
    expect(await proc.exited).toEqual({ code: null, signal: 'SIGINT' });
    expect(proc.kill()).toBe(false);
  });

  it('stop escalates to SIGKILL when SIGTERM is ignored past the grace period', async () => {
    const proc = spawnProcess({
      name: 'stubborn',
      command: node,
      args: ['-e', 'process.on("SIGTERM", () => console.log("ignoring TERM")); console.log("up"); setInterval(() => {}, 1000)'],
    });
    await proc.waitForLine(/up/);
    const exit = await proc.stop(200);
    expect(exit.signal).toBe('SIGKILL');
    expect(proc.logs()).toContain('ignoring TERM');
  });

  it('stop resolves with a clean exit when the process honours SIGTERM', async () => {
    const proc = spawnProcess({
      name: 'graceful',
      command: node,
      args: ['-e', 'process.on("SIGTERM", () => process.exit(0)); console.log("up"); setInterval(() => {}, 1000)'],
    });
    await proc.waitForLine(/up/);
    expect(await proc.stop(5000)).toEqual({ code: 0, signal: null });
  });

  it('waitForLine rejects with the logs when the process exits first', async () => {
    const proc = spawnProcess({ name: 'quitter', command: node, args: ['-e', 'console.log("bye"); process.exit(1)'] });
    await expect(proc.waitForLine(/never/, 5000)).rejects.toThrow(/quitter exited \(code 1[\s\S]*bye/);
  });

  it('waitForLine rejects on timeout', async () => {
    const proc = spawnProcess({ name: 'quiet', command: node, args: ['-e', 'setInterval(() => {}, 1000)'] });
    await expect(proc.waitForLine(/never/, 100)).rejects.toThrow(/no line matching \/never\/ within 100 ms/);
    await proc.stop();
  });

  it('reports a command that cannot start through exited', async () => {
    const proc = spawnProcess({ name: 'ghost', command: '/nonexistent/aigc-no-such-binary' });
    const exit = await proc.exited;
    expect(exit.code).toBeNull();
    expect(exit.error?.message).toMatch(/ENOENT/);
  });
});
