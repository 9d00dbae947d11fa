import { describe, expect, it } from 'vitest';
import { incrementalParam, nextHighWater } from './high-water.ts';

describe('nextHighWater', () => {
  it('is the newest lastUpdated seen, bounded by the server time at the start of the pass', () => {
    expect(nextHighWater('full', { passBound: 1000, seenMax: 500 }, null)).toBe(500);
    // A resource changed mid-pass (after its page was read) must stay above the mark.
    expect(nextHighWater('full', { passBound: 1000, seenMax: 1500 }, null)).toBe(1000);
    expect(nextHighWater('full', { passBound: null, seenMax: 700 }, null)).toBe(700);
  });

  it('after a pass that saw nothing: 0 for a full pass, the previous mark for an incremental one', () => {
    expect(nextHighWater('full', { passBound: 1000, seenMax: null }, 300)).toBe(0);
    expect(nextHighWater('incremental', { passBound: 1000, seenMax: null }, 300)).toBe(300);
  });

  it('never moves back in an incremental pass', () => {
    expect(nextHighWater('incremental', { passBound: 200, seenMax: 900 }, 300)).toBe(300);
    expect(nextHighWater('incremental', { passBound: 2000, seenMax: 900 }, 300)).toBe(900);
  });
});

describe('incrementalParam', () => {
  it('writes _lastUpdated=gt or _since as a UTC instant', () => {
    const mark = Date.UTC(2025, 9, 1, 4, 0, 0, 5);
    expect(incrementalParam('_lastUpdated', mark)).toEqual([
      '_lastUpdated',
      'gt2025-10-01T04:00:00.005Z',
    ]);
    expect(incrementalParam('_since', mark)).toEqual(['_since', '2025-10-01T04:00:00.005Z']);
  });
});
