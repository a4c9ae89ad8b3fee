/**
 * parseFrameJson: the JSON line of gdb's rewind-frame-json helper, as the reverse steps use it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFrameJson } from '../debug-adapter/src/frame-info';

describe('parseFrameJson', () => {
  it('keeps a CFA above the stack pointer, with the caller and the function', () => {
    const f = parseFrameJson('noise\n{"pc": "0x1000", "sp": "0x7f00", "cfa": "0x7f40", "callerPc": "0x2000", "inline": false, "realFunction": {"name": "f", "start": "0x1000", "end": "0x1100"}}\n');
    assert.equal(f.cfa, 0x7f40n);
    assert.equal(f.callerPc, 0x2000n);
    assert.equal(f.realFunction?.recursive, true, 'recursive unless gdb says it is not');
  });

  it('drops a CFA at or below the stack pointer (0 at the bottom of an interrupt stack was seen): no caller known', () => {
    // The fidelity soak (seed 987460444) stepped out of "<signal handler called>" with a CFA of 0,
    // and the entry guard asked the engine for a stack pointer of "0x-8".
    assert.equal(parseFrameJson('{"pc": "0x1000", "sp": "0x7f00", "cfa": "0x0", "inline": false}').cfa, undefined);
    assert.equal(parseFrameJson('{"pc": "0x1000", "sp": "0x7f00", "cfa": "0x7f00", "inline": false}').cfa, undefined);
    assert.equal(parseFrameJson('{"pc": "0x1000", "sp": "0x7f00", "inline": false}').cfa, undefined);
  });

  it('says what gdb printed when there is no JSON', () => {
    assert.throws(() => parseFrameJson('Python Exception: no frame\n'), /printed no JSON: Python Exception/);
  });
});
