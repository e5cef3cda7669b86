export * from './gpio-port.js';
export { Debouncer, type DebounceTimes } from './debounce.js';
export { FakeGpioPort, type FakeGpioDeps, type FakeGpioEvents } from './fake-gpio.js';
export { OnoffGpioPort, type OnoffGpioDeps, type OnoffModule } from './onoff-gpio.js';
export { readGpioChips, resolveLine, BCM_CHIP_LABELS, type GpioChip } from './chips.js';
