/**
 * Monitoring as a child process of a test, so the test can kill -9 it: the service-under-test harness with a fixed
 * instance name (its consumer groups stay put across restarts) and a package locator that answers one pipeline.
 * Environment: MONITORING_TEST_NAME, MONITORING_TEST_DATABASE, and either MONITORING_TEST_PACKAGES (JSON: pipeline id →
 * { packageUri, packageSha256 }) or MONITORING_TEST_PIPELINE_ID, MONITORING_TEST_PACKAGE_URI and
 * MONITORING_TEST_PACKAGE_SHA256 (one pipeline), plus any of the service's own variables. Prints
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
  const packages: Record<string, { packageUri: string; packageSha256: string }> = process.env.MONITORING_TEST_PACKAGES
    ? JSON.parse(process.env.MONITORING_TEST_PACKAGES)
    : {
        [required('MONITORING_TEST_PIPELINE_ID')]: {
          packageUri: required('MONITORING_TEST_PACKAGE_URI'),
          packageSha256: required('MONITORING_TEST_PACKAGE_SHA256'),
        },
      };
  const service = await startMonitoringUnderTest({
    name: required('MONITORING_TEST_NAME'),
    database: required('MONITORING_TEST_DATABASE'),
    fromCommitted: true,
    locator: {
      locate: async (ref) => {
        const packageRef = packages[ref.pipelineId];
        if (!packageRef) throw new NonRetryableError(`no test package for ${ref.pipelineId}`);
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
