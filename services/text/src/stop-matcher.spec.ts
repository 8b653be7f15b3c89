import { describe, expect, it } from 'vitest';
import { StopMatcher } from './stop-matcher.js';

const feed = (stops: string[], deltas: string[]) => {
  const m = new StopMatcher(stops);
  let out = '';
  for (const d of deltas) {
    const r = m.push(d);
    out += r.text;
    if (r.stopped) return { out, stopped: true };
  }
  return { out: out + m.flush(), stopped: false };
};

describe('StopMatcher', () => {
  it('cuts exactly before a stop sequence split across deltas', () => {
    expect(feed(['END'], ['abc E', 'N', 'Dxyz'])).toEqual({ out: 'abc ', stopped: true });
  });

  it('cuts at the earliest of several stop sequences', () => {
    expect(feed(['\n\n', 'b'], ['a\n', '\nb'])).toEqual({ out: 'a', stopped: true });
  });

  it('holds back only what may still become a stop sequence, and releases it when it does not', () => {
    const m = new StopMatcher(['END']);
    expect(m.push('abc E').text).toBe('abc ');
    expect(m.push('x').text).toBe('Ex');
    expect(feed(['END'], ['no E', 'N'])).toEqual({ out: 'no EN', stopped: false });
  });

  it('passes everything through without stop sequences', () => {
    expect(feed([], ['a', 'b'])).toEqual({ out: 'ab', stopped: false });
  });
});
