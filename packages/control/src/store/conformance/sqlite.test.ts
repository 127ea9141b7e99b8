import { storeConfigSuite, storeConformanceSuite } from './suite.ts';

storeConformanceSuite('sqlite');
storeConfigSuite();
