/**
 * Masks an identifier for display: enough to recognise a record, not enough to use it.
 * `jane.doe@example.com` → `j***@example.com`, `+1 555 123 4567` → `***4567`, `Jane` → `J***`.
 */
export function maskIdentifier(kind: string, value: string): string {
  const trimmed = value.trim();
  if (trimmed === '') return '';
  if (kind === 'email') {
    const at = trimmed.lastIndexOf('@');
    return at > 0 ? `${Array.from(trimmed)[0]}***${trimmed.slice(at)}` : '***';
  }
  if (kind === 'phone') {
    const digits = trimmed.replace(/\D/g, '');
    return digits.length > 4 ? `***${digits.slice(-4)}` : '***';
  }
  if (kind === 'country' || kind === 'state' || kind === 'gender') return trimmed; // not identifying on their own
  if (kind === 'first_name' || kind === 'last_name' || kind === 'city') return `${Array.from(trimmed)[0]}***`;
  return '***';
}
