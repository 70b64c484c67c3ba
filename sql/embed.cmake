# Writes a C++ source holding every migration file as (name, text), in file-name order.
string(REPLACE "|" ";" FILES "${FILES}")
set(body "")
foreach(f IN LISTS FILES)
  get_filename_component(name ${f} NAME)
  file(READ ${f} text)
  string(APPEND body "  {\"${name}\", R\"__sql__(${text})__sql__\"},\n")
endforeach()
file(WRITE ${OUT} "// Generated from sql/*.sql by sql/embed.cmake; do not edit.\n#include \"engine/migrations.h\"\nnamespace migrations {\nconst std::vector<File>& files() {\n  static const std::vector<File> all = {\n${body}  };\n  return all;\n}\n}  // namespace migrations\n")
