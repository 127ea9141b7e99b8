import { cliSuite } from './testing/cli-suite.ts';

cliSuite('sqlite');
