import { CommandSigner } from '../../carrier/commands/signer.js';
import { CommandAuthenticator, type UsedCommands } from '../../agent/transport/command-auth.js';

/** Command ids remembered in memory (the daemon keeps them in its ledger). */
export function memoryUsedCommands(): UsedCommands {
  const used = new Set<string>();
  return {
    useCommand: (jti) => {
      if (used.has(jti)) return false;
      used.add(jti);
      return true;
    },
  };
}

/** A fresh carrier command key and a started kiosk-side authenticator trusting it, for `deviceId`. */
export async function testCommandAuth(deviceId: string): Promise<{ signer: CommandSigner; auth: CommandAuthenticator }> {
  const signer = await CommandSigner.generate();
  const auth = new CommandAuthenticator({ keys: [signer.entry], deviceId, used: memoryUsedCommands(), maxLifetimeSec: 120, clockSkewSec: 30 });
  await auth.start();
  return { signer, auth };
}
