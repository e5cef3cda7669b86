export * from './config.js';
export { KioskHardware, type KioskEvents, type KioskHardwareDeps } from './kiosk.js';
export { Dispenser, type DispenseResult } from './dispenser.js';
export { StatusLed } from './status-led.js';
