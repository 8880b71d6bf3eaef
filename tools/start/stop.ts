/** `npm stop`: stops the services, then the local stack (only processes this tooling started). */
import { stopServices } from '../services/services';
import { stack } from '../stack/stack-control';

stopServices()
  .then(() => stack('down'))
  .catch((error: unknown) => {
    process.stderr.write(`npm stop failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
