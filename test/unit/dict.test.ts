import { describe, expect, it } from 'vitest';
import { defined, isDict } from '../../mdm/dict.js';

describe('isDict', () => {
  it('takes plain objects and refuses arrays, dates, bytes and scalars', () => {
    expect(isDict({ a: 1 })).toBe(true);
    expect(isDict(Object.create(null))).toBe(true);
    for (const other of [[], new Date(0), Buffer.from('x'), new Uint8Array(1), null, undefined, 'x', 1]) expect(isDict(other)).toBe(false);
  });
});

describe('defined', () => {
  it('drops undefined values and keeps null, false and 0', () => {
    expect(defined({ a: undefined, b: null, c: false, d: 0 })).toEqual({ b: null, c: false, d: 0 });
  });
});
