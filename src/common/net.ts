// Network names fhirbridge reasons about: which hosts are this machine.

/** `localhost`, `::1` (bracketed or not) and 127.0.0.0/8: names that reach this machine only. */
export function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    hostname === '::1' ||
    /^127\.\d+\.\d+\.\d+$/.test(hostname)
  );
}
