#include "server/rules/dialing_rules.h"
