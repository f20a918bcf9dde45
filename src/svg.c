#include "moeplan/svg.h"
void mp_svg_plan(FILE *f, const mp_search_result *r, const char *title, double capacity_bytes)
{
    (void)r; (void)capacity_bytes;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\"><title>%s</title></svg>\n", title);
}
