/**
 * Which disassembled x86 instructions (gdb's AT&T syntax) write memory: how rewind/valueHistory
 * names the writing instruction of a write (debug-adapter/src/writer-instruction.ts). Plain Node.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writesMemory } from '../debug-adapter/src/writer-instruction';

describe('writesMemory', () => {
  it('says yes for stores, read-modify-writes, pushes, calls and string stores', () => {
    for (const inst of [
      'mov    %cl,0x102840(%rdx)',
      'movb   $0x0,0x9a05(%rip)        # 10a0b0 <buf.0+0x10>',
      'movl   $0x64,0x102850',
      'mov    %eax,(%rdi,%rsi,4)',
      'addl   $0x1,0x14(%rax)',
      'incq   (%rbx)',
      'lock cmpxchg %rdx,(%rdi)',
      'xchg   %eax,0x8(%rsp)',
      'movss  %xmm0,-0x4(%rbp)',
      'mov    %rax,%fs:0x28',
      'push   %rbp',
      'call   1012b0 <kstrlen>',
      'call   *0x10(%rax)',
      'rep stos %al,%es:(%rdi)',
      'movsb  %ds:(%rsi),%es:(%rdi)',
      'stosq',
      'setne  0x3(%rax)',
    ]) assert.equal(writesMemory(inst), true, inst);
  });

  it('says no for loads, compares, jumps, lea and register moves', () => {
    for (const inst of [
      'movzbl (%rbx,%rdx,1),%ecx',
      'mov    0x8(%rbp),%rax',
      'add    $0x1,%rdx',
      'cmp    %rdx,%rax',
      'cmpb   $0x0,(%rax)',
      'test   %rax,%rax',
      'jne    10065c <config_set_name+0x1b>',
      'jmp    *0x8(%rax)',
      'lea    0x10(%rsp),%rdi',
      'movsbl %al,%eax',
      'ret',
      'leave',
      'nop',
      'nopw   0x0(%rax,%rax,1)',
      'mov    $0x102840,%esi',
      '',
    ]) assert.equal(writesMemory(inst), false, inst);
  });
});
