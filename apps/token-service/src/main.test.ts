import { describeSplitMain } from '@broker/testing';

describeSplitMain('token-service', 'apps/token-service/src/main.ts');
