import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Destination credentials at rest: AES-256-GCM with a 96-bit random IV, the destination id as
 * associated data (a ciphertext copied onto another row does not decrypt), and the key's id in
 * the envelope so a wrong key is a clear error, not garbage.
 * Envelope: `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url parts).
 */
export class SecretBox {
  readonly keyId: string;

  private constructor(private readonly key: Buffer) {
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 12);
  }

  /** A key given as 64 hex characters or base64 of 32 bytes. */
  static fromKeyText(text: string, source = 'AUDIENCES_ENCRYPTION_KEY'): SecretBox {
    const trimmed = text.trim();
    const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
    if (key.length !== 32) throw new SecretKeyError(`${source} must be 32 bytes, as 64 hex characters or base64 (e.g. \`openssl rand -base64 32\`); got ${key.length} bytes`);
    return new SecretBox(key);
  }

  /** Embedded mode only: a key kept next to the embedded database, created on first use. */
  static fromKeyFile(file: string): SecretBox {
    if (!fs.existsSync(file)) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    }
    return SecretBox.fromKeyText(fs.readFileSync(file, 'utf8'), file);
  }

  seal(plaintext: string, associatedData: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', this.keyId, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join('.');
  }

  open(envelope: string, associatedData: string): string {
    const [version, keyId, iv, tag, ciphertext] = envelope.split('.');
    if (version !== 'v1' || !keyId || iv === undefined || tag === undefined || ciphertext === undefined) throw new SecretKeyError('credentials are not in a known envelope format');
    if (keyId !== this.keyId) throw new SecretKeyError(`credentials were encrypted with key ${keyId}, but the configured key is ${this.keyId}`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretKeyError('credentials failed authentication (tampered with, or sealed for another destination)');
    }
  }
}

export class SecretKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyError';
  }
}

/** The key id of an envelope, without opening it. */
export const envelopeKeyId = (envelope: string): string | undefined => envelope.split('.')[1];
