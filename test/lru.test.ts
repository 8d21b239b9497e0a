import { describe, expect, it } from 'vitest';
import { LruCache } from '../src/http/lru.ts';

describe('LruCache', () => {
  it('keeps the most recently used values within its size, evicting the oldest first', () => {
    const c = new LruCache<string>(10, (v) => v.length);
    c.set('a', 'aaaa');
    c.set('b', 'bbbb');
    expect(c.get('a')).toBe('aaaa'); // a is now the most recent
    c.set('c', 'cccc'); // 12 > 10: b goes
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe('aaaa');
    expect(c.get('c')).toBe('cccc');
    c.set('a', 'aa'); // replacing frees the old size
    c.set('d', 'dddd');
    expect([c.get('a'), c.get('c'), c.get('d')]).toEqual(['aa', 'cccc', 'dddd']);
    c.set('huge', 'x'.repeat(11)); // larger than the whole cache: not kept, nothing evicted
    expect(c.get('huge')).toBeUndefined();
    expect(c.size).toBe(3);
  });
});
