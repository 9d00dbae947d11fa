// What a connection that is not usable answers, in the terms of its state: revoked, expired and
// reauthorization_required are their own error codes, every other state is invalid_state.
import { BridgeError } from '../common/errors.ts';
import type { ConnectionRecord } from '../store/port.ts';

/** The connection's state as an error; `cannot` (e.g. "sync") ends the message with what it cannot do. */
export function connectionStateError(
  record: Pick<ConnectionRecord, 'id' | 'state' | 'stateReason'>,
  cannot?: string,
): BridgeError {
  const code =
    record.state === 'revoked' ||
    record.state === 'expired' ||
    record.state === 'reauthorization_required'
      ? record.state
      : 'invalid_state';
  const reason = record.stateReason ? ` (${record.stateReason})` : '';
  const consequence = cannot ? `: it cannot ${cannot}` : '';
  return new BridgeError(code, `connection ${record.id} is ${record.state}${reason}${consequence}`);
}
