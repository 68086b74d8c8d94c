import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { sessionReady, signedIn } from './api/auth'

const routes: RouteRecordRaw[] = [
  { path: '/', redirect: '/workflows' },
  { path: '/login', name: 'login', component: () => import('./views/LoginView.vue'), meta: { public: true } },
  { path: '/workflows', name: 'workflows', component: () => import('./views/WorkflowListView.vue') },
  { path: '/workflows/new', name: 'workflow-new', component: () => import('./views/WorkflowEditView.vue') },
  {
    path: '/workflows/:id(\\d+)',
    name: 'workflow',
    component: () => import('./views/WorkflowDetailView.vue'),
    props: (r) => ({ id: Number(r.params.id) }),
  },
  {
    path: '/workflows/:id(\\d+)/edit',
    name: 'workflow-edit',
    component: () => import('./views/WorkflowEditView.vue'),
    props: (r) => ({ id: Number(r.params.id) }),
  },
  { path: '/tasks', name: 'tasks', component: () => import('./views/TaskListView.vue') },
  { path: '/migration', name: 'migration', component: () => import('./views/MigrationView.vue') },
  { path: '/proposals', name: 'proposals', component: () => import('./views/ProposalsView.vue') },
  { path: '/backfill', name: 'backfill', component: () => import('./views/BackfillView.vue') },
  { path: '/openlineage', name: 'openlineage', component: () => import('./views/OpenLineageJobsView.vue') },
  { path: '/lineage', name: 'lineage', component: () => import('./views/LineageView.vue') },
  { path: '/admin/api-keys', name: 'api-keys', component: () => import('./views/ApiKeysView.vue') },
  { path: '/:pathMatch(.*)*', redirect: '/workflows' },
]

export const router = createRouter({ history: createWebHistory(), routes })

router.beforeEach(async (to) => {
  await sessionReady
  if (!to.meta.public && !signedIn.value) return { name: 'login', query: { redirect: to.fullPath } }
  return true
})
