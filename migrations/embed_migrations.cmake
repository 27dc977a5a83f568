# Writes a C++ source holding the migration files as raw string literals.
# Inputs: SOURCE_DIR (the migrations folder), OUTPUT.
file(GLOB FILES ${SOURCE_DIR}/[0-9][0-9][0-9][0-9]_*.sql)
list(SORT FILES)
set(body "")
foreach(path IN LISTS FILES)
  get_filename_component(name ${path} NAME_WE)
  string(SUBSTRING ${name} 0 4 version)
  math(EXPR version_number "${version}")
  file(READ ${path} sql)
  string(FIND "${sql}" ")campaign_sql\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${path} contains the raw string delimiter")
  endif()
  string(APPEND body "      {${version_number}, \"${name}\", R\"campaign_sql(${sql})campaign_sql\"},\n")
endforeach()
file(WRITE ${OUTPUT} "// Generated from migrations/*.sql by embed_migrations.cmake. Do not edit.
#include \"server/store/embedded_migrations.h\"

namespace campaign::store {

const std::vector<MigrationFile>& EmbeddedMigrations() {
  static const std::vector<MigrationFile> kMigrations = {
${body}  };
  return kMigrations;
}

}  // namespace campaign::store
")
