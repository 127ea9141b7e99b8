import { cliSuite } from './testing/cli-suite.ts';

cliSuite('postgres');
