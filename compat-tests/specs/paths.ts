import type { EngineName } from '../fixtures';

/** The paths an engine supports: its probed one, plus forced fallback where transfer works. */
export function pathsOf(engine: EngineName): ('auto' | 'fallback')[] {
  return engine === 'webkit' ? ['auto'] : ['auto', 'fallback'];
}
