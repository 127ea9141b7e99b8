import { storeConformanceSuite } from './suite.ts';

storeConformanceSuite('postgres');
