import { defineConfig } from '@playwright/test';
import suite from './playwright.config';

// `cargo xtask bench` runs this: the benchmark (compat-tests/bench/) with the test suite's
// server and fixtures, in the three engines of this machine, one browser per case.
export default defineConfig({
  ...suite,
  testDir: './compat-tests/bench',
  outputDir: './target/playwright-bench',
  timeout: 0,
  // A failure is printed when it happens (the list reporter prints it at the end, lost when a
  // long run is stopped).
  reporter: [['line']],
  projects: suite.projects?.filter((p) => ['chromium', 'firefox', 'webkit'].includes(p.name ?? '')),
});
