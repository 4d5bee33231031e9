import { describeSplitMain } from '@broker/testing';

describeSplitMain('auth-portal', 'apps/auth-portal/src/main.ts');
