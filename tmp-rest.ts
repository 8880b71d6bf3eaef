import { fuzzTargets } from './tools/fuzz/targets';
import { decodeRestInferRequest } from './apps/serving/src/inference/rest/rest-codec';
import { decodeInferInputs } from './apps/serving/src/inference/tensor-codec';
import { checkJsonDepth } from '@keel/contracts';
import { binaryTestPackage, fixtureRecords, pipelineSpecFixture } from '@keel/testing';
const spec = pipelineSpecFixture('adult-income', { id: 'adult-income' });
const signature = binaryTestPackage(spec, fixtureRecords('adult', { count: 50, numeric: spec })).signature.inputs;
const t = fuzzTargets().find((x) => x.name === 'oip:rest JSON')!;
const [{ label, input }] = t.largest() as { label: string; input: string }[];
console.log(label, input.length);
for (let i = 0; i < 30; i++) {
  let s = performance.now();
  checkJsonDepth(input, 32); const a = performance.now() - s; s = performance.now();
  const body = JSON.parse(input); const b = performance.now() - s; s = performance.now();
  const { request } = decodeRestInferRequest(body, { modelName: 'adult-income', modelVersion: '' }); const c = performance.now() - s; s = performance.now();
  decodeInferInputs(request, signature, 10000); const d = performance.now() - s;
  console.log(`depth ${a.toFixed(1)} parse ${b.toFixed(1)} rest-decode ${c.toFixed(1)} tensor-decode ${d.toFixed(1)}`);
}
