// The views, by the first part of their hash route.

import { login } from './login.js';
import { overview, point } from './overview.js';
import { overdue, errand } from './overdue.js';
import { followups } from './followups.js';
import { leaderboard } from './leaderboard.js';
import { reports } from './reports.js';
import { audit } from './audit.js';
import { accounts } from './accounts.js';

export const byName = { login, overview, point, overdue, errand, followups, leaderboard, reports, audit, accounts };
