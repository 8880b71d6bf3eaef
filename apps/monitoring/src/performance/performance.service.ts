import { Injectable } from '@nestjs/common';
import { type ConceptDriftDetector, type PerformanceMetrics } from '@keel/contracts';
import { type PerformanceTask } from './performance-metrics';
import { PerformanceRepository, type StoredLabelWindow } from './performance.repository';
import { VersionPerformance } from './version-performance';

/** What `GET /api/v1/pipelines/:id/performance` answers. */
export interface PerformanceView {
  pipelineId: string;
  versions: {
    modelName: string;
    modelVersion: number;
    task: PerformanceTask;
    windowLabels: number;
    labelsJoined: number;
    /** Over the last windowLabels joined labels (fewer while fewer have joined). */
    rolling: { labelledCount: number; metrics: PerformanceMetrics };
    conceptDrift: {
      detector: ConceptDriftDetector;
      detections: number;
      /** Sequence number (0-based, in join order) of the label the detector last fired on. */
      lastDetectionAtLabel?: number;
      /** Detections and largest statistic in the open window. */
      openWindow: { detections: number; statistic: number; threshold: number; errorMean: number };
    };
    /** Newest first. */
    windows: Omit<StoredLabelWindow, 'pipelineId' | 'modelName' | 'modelVersion' | 'task'>[];
  }[];
}

/** Rolling performance, concept drift and closed label windows per model version, as stored by the label join. */
@Injectable()
export class PerformanceService {
  constructor(private readonly repository: PerformanceRepository) {}

  async view(pipelineId: string, windows: number): Promise<PerformanceView> {
    const states = await this.repository.loadPipeline(pipelineId);
    return {
      pipelineId,
      versions: await Promise.all(
        states.map(async (state) => {
          const performance = VersionPerformance.fromJSON(state);
          const rolling = performance.rolling();
          const closed = windows > 0 ? await this.repository.windowsOf(pipelineId, state.modelVersion, windows) : [];
          const { detector, detections, statistic, threshold, errorMean } = rolling.conceptDrift;
          return {
            modelName: state.modelName,
            modelVersion: state.modelVersion,
            task: state.settings.task,
            windowLabels: state.settings.windowLabels,
            labelsJoined: performance.joined,
            rolling: { labelledCount: rolling.labelledCount, metrics: rolling.metrics },
            conceptDrift: {
              detector,
              detections: performance.detectionsTotal,
              ...(performance.lastDetectionAt !== undefined
                ? { lastDetectionAtLabel: performance.lastDetectionAt }
                : {}),
              openWindow: { detections, statistic, threshold, errorMean },
            },
            windows: closed.map(({ pipelineId: _p, modelName: _n, modelVersion: _v, task: _t, ...window }) => window),
          };
        }),
      ),
    };
  }
}
