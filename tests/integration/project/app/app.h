#ifndef APP_H
#define APP_H

/* Parse a decimal number of at most 6 digits; -1 when invalid. */
int parse_num(const char *s);

#endif
