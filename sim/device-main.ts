/** Child-process entry of a simulated device: `node --import tsx device-main.ts <config.json>`. */
import { readFileSync } from 'node:fs';
import { createLogger } from '../base/log.js';
import { runSimDevice, type SimDeviceConfig } from './device.js';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8')) as SimDeviceConfig;
const logger = createLogger({ level: process.env.KIOSK_LOG_LEVEL ?? 'warn' });
const r = await runSimDevice(cfg, logger);
process.stdout.write(`${JSON.stringify({ done: true, ...r })}\n`);
process.exit(0);
