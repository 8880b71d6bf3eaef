/**
 * Monitoring as a child process of a test, so the test can kill -9 it: the service-under-test harness with a fixed
 * instance name (its consumer groups stay put across restarts) and a package locator that answers one pipeline.
 * Environment: MONITORING_TEST_NAME, MONITORING_TEST_DATABASE, MONITORING_TEST_PIPELINE_ID,
 * MONITORING_TEST_PACKAGE_URI, MONITORING_TEST_PACKAGE_SHA256, plus any of the service's own variables. Prints
 * `ready <http url>` once the service is up.
 */
import { NonRetryableError } from '@keel/messaging';
import { startMonitoringUnderTest } from './monitoring-under-test';

const required = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

async function main(): Promise<void> {
  const pipelineId = required('MONITORING_TEST_PIPELINE_ID');
  const packageRef = {
    packageUri: required('MONITORING_TEST_PACKAGE_URI'),
    packageSha256: required('MONITORING_TEST_PACKAGE_SHA256'),
  };
  const service = await startMonitoringUnderTest({
    name: required('MONITORING_TEST_NAME'),
    database: required('MONITORING_TEST_DATABASE'),
    fromCommitted: true,
    locator: {
      locate: async (ref) => {
        if (ref.pipelineId !== pipelineId) throw new NonRetryableError(`no test package for ${ref.pipelineId}`);
        return packageRef;
      },
    },
  });
  console.log(`ready ${service.httpUrl}`);
  const stop = () => void service.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
