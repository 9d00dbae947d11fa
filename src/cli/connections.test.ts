// `fhirbridge connections disconnect`: the record goes with the tokens unless --keep-record.
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Runtime } from '../runtime.ts';
import { registerConnectionCommands } from './connections.ts';

function cli(disconnect: Runtime['vault']['disconnect']) {
  const program = new Command().exitOverride();
  const rt = { vault: { disconnect } } as unknown as Runtime;
  registerConnectionCommands(program, (fn) => fn(rt));
  return program;
}

afterEach(() => vi.restoreAllMocks());

describe('connections disconnect', () => {
  it('forgets the record by default and says how much', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const disconnect = vi.fn(async () => ({ revoked: false, resourcesForgotten: 12 }));
    await cli(disconnect as never).parseAsync(['node', 'x', 'connections', 'disconnect', 'con_1']);
    expect(disconnect).toHaveBeenCalledWith('con_1', { keepRecord: false });
    expect(log).toHaveBeenCalledWith(
      'disconnected con_1; tokens forgotten; 12 resources forgotten',
    );
  });

  it('--keep-record keeps it', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const disconnect = vi.fn(async () => ({ revoked: true, resourcesForgotten: 0 }));
    await cli(disconnect as never).parseAsync([
      'node',
      'x',
      'connections',
      'disconnect',
      'con_1',
      '--keep-record',
    ]);
    expect(disconnect).toHaveBeenCalledWith('con_1', { keepRecord: true });
    expect(log).toHaveBeenCalledWith('disconnected con_1; tokens revoked at the EHR; record kept');
  });
});
