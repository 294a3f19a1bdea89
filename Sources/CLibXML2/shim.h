#ifndef EBB_CLIBXML2_SHIM_H
#define EBB_CLIBXML2_SHIM_H
#include <libxml/xmlversion.h>
// Foundation's module also sees ICU; libxml2's ICU types would then have two
// definitions and a clean build fails ("'UErrorCode' has different definitions").
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlerror.h>
#include <libxml/HTMLparser.h>
#endif
