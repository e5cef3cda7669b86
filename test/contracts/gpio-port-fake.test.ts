import t from 'tap';
import { FakeGpioPort } from '../../device/gpio/fake-gpio.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { gpioPortContract, CONTRACT_PINS } from './gpio-port.contract.js';

gpioPortContract('fake', (pins) => {
  const clock = new FakeClock();
  const port = new FakeGpioPort({ pins, clock });
  return { port, clock, drive: (pin, v) => port.drive(pin, v), observe: (pin) => port.level(pin) };
});

t.test('fake extras: electrical levels with polarity, write history and events', async (t) => {
  const clock = new FakeClock();
  const port = new FakeGpioPort({ pins: CONTRACT_PINS, clock });
  const writes: string[] = [];
  port.events.on('write', (e) => writes.push(`${e.pin}=${e.value}`));
  await port.start();
  t.equal(port.physical('lamp'), false, 'active-low lamp on = line low');
  port.drivePhysical('button', false); // active-low button pressed: line pulled low
  clock.advance(20);
  t.equal(await port.read('button'), true);
  clock.advance(100);
  await port.write('relay', true);
  t.same(
    port.history('relay').map((h) => [h.value, h.timeMs]),
    [
      [false, 0],
      [true, 120],
    ],
  );
  t.same(writes, ['relay=false', 'lamp=true', 'relay=true']);
  await port.close();
});
